"""``/docs`` works with no network: Swagger UI comes from the server (the pinned swagger-ui-bundle package),
and every operation of the OpenAPI document renders."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.timeout(60)


def test_the_api_docs_render_every_operation_with_the_network_cut_off(server, page):
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_this_server)
    spec = page.request.get(f"{server}/openapi.json").json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in {"get", "put", "post", "patch", "delete"}]

    page.goto(f"{server}/docs")

    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible()
    expect(blocks).to_have_count(len(operations))
    expect(page.locator(".opblock-summary-path", has_text="/v1/interactions").first).to_be_visible()
    assert outside == [], f"/docs asked the network for {outside}"


def test_an_asset_outside_the_bundle_is_not_served(client):
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    bundle.close()
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert client.get("/docs/assets/../__init__.py").status_code == 404
