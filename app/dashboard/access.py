"""The role every dashboard route needs, in one table, checked before each view (``auth.require_sign_in``).

A value is a role for every method, or a role per method. A route missing from the table needs ``owner`` (it
fails closed) and ``tests/test_roles.py`` fails until it is listed. Signing in with the shared server key
(``SCOREKEEPER_API_KEYS``) acts as an owner.
"""
from __future__ import annotations

#: Reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"dashboard.sign_in", "dashboard.sign_in_code", "dashboard.static", "dashboard.setup",
                              "dashboard.accept_invite"})

_READ_EDIT = {"GET": "viewer", "POST": "editor"}

ROUTE_ROLES: dict[str, str | dict[str, str]] = {
    "dashboard.home": "viewer",
    "dashboard.sign_out": "viewer",
    "dashboard.switch_workspace": "viewer",
    # contacts and smart lists
    "dashboard.contacts": "viewer",
    "dashboard.export_contacts": "viewer",
    "dashboard.contact": "viewer",
    "dashboard.suggest_contacts": "viewer",
    "dashboard.change_contact_attribute": "editor",
    "dashboard.change_contact_dnd": "editor",
    "dashboard.change_contact_name": "editor",
    "dashboard.change_contact_score": "editor",
    "dashboard.reset_contact_score": "editor",
    "dashboard.change_contact_tags": "editor",
    "dashboard.smart_lists": _READ_EDIT,
    "dashboard.companies": "viewer",
    "dashboard.company": "viewer",
    "dashboard.update_smart_list": "editor",
    "dashboard.delete_smart_list": "editor",
    "dashboard.export_smart_list": "viewer",
    # scoring
    "dashboard.profiles": "viewer",
    "dashboard.versions": "viewer",
    "dashboard.job": "viewer",
    "dashboard.job_json": "viewer",
    "dashboard.edit_profile": _READ_EDIT,
    "dashboard.new_profile": "editor",
    "dashboard.delete_profile": "editor",
    "dashboard.evaluation": _READ_EDIT,
    "dashboard.apply_points": "editor",
    "dashboard.preview_profile": "editor",
    "dashboard.publish_profile": "editor",
    "dashboard.rollback_profile": "editor",
    "dashboard.unpublish_profile": "editor",
    "dashboard.edit_rule": _READ_EDIT,
    "dashboard.change_rule": "editor",
    # workflows, runs, deliveries, the inbox
    "dashboard.workflows": "viewer",
    "dashboard.workflow": "viewer",
    "dashboard.check_workflow": "editor",
    "dashboard.copy_workflow": "editor",
    "dashboard.edit_workflow": "editor",
    "dashboard.new_workflow": "editor",
    "dashboard.toggle_workflow": "editor",
    "dashboard.test_run_workflow": "editor",
    "dashboard.run": "viewer",
    "dashboard.deliveries": "viewer",
    "dashboard.delivery": "viewer",
    "dashboard.redeliver_delivery": "editor",
    "dashboard.notifications": "viewer",
    "dashboard.mark_notification_read": "editor",
    # administration
    "dashboard.audit": "admin",
    "dashboard.members": "admin",
    "dashboard.invite_member": "admin",
    "dashboard.change_member_role": "admin",
    "dashboard.remove_member": "admin",
    "dashboard.account": "viewer",
    "dashboard.start_totp": "viewer",
    "dashboard.confirm_totp": "viewer",
    "dashboard.turn_off_totp": "viewer",
    "dashboard.keys": "admin",
    "dashboard.revoke_api_key": "admin",
    "dashboard.providers": "admin",
    "dashboard.set_provider_secret": "admin",
    "dashboard.remove_provider_secret": "admin",
}

#: What a route missing from the table needs: the most.
UNLISTED_ROLE = "owner"


def needed_role(endpoint: str | None, method: str) -> str:
    needed = ROUTE_ROLES.get(endpoint or "", UNLISTED_ROLE)
    if isinstance(needed, dict):
        return needed.get("GET" if method in ("GET", "HEAD") else method, UNLISTED_ROLE)
    return needed
