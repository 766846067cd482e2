"""Row 2: HTTP ingestion, signed Stripe webhooks and SendGrid batches, against a Flask hello-world."""
from __future__ import annotations

import time

from .report import Row
from .signed import write_sendgrid, write_stripe
from .context import Context, depth, WRK
from .tools import wrk


def rows_http(ctx: Context) -> list[Row]:
    size = ctx.size
    ctx.bench.redis.flushall()
    gen = ctx.bench.workdir
    settings = f"{ctx.web_workers} × {ctx.web_class}" + (f" ({ctx.web_threads} threads)" if ctx.web_class == "gthread"
                                                         else "")
    hello = wrk(ctx, ctx.hello_url + "/", size.http_seconds, 2, 8)
    ctx.say(f"row 2: hello-world {hello.get('rps', 0):,.0f} req/s")
    stripe_file = write_stripe(gen / "stripe.txt", size.stripe_requests, run=str(int(time.time())))
    stripe = wrk(ctx, ctx.api_url + "/hooks/stripe", size.http_seconds, 2, 8, WRK / "replay.lua",
                 [str(stripe_file), "stripe"])
    ctx.say(f"row 2: stripe {stripe.get('rps', 0):,.0f} req/s, non-2xx {stripe['non2xx']}")
    sg_file = write_sendgrid(gen / "sendgrid.txt", size.sendgrid_batches, size.batch_events, ctx.sendgrid_key,
                             run=str(int(time.time())))
    sendgrid = wrk(ctx, ctx.api_url + "/hooks/sendgrid", size.http_seconds, 2, 4, WRK / "replay.lua",
                   [str(sg_file), "sendgrid"])
    events = sendgrid.get("rps", 0) * size.batch_events
    ctx.say(f"row 2: sendgrid {sendgrid.get('rps', 0):,.1f} batches/s = {events:,.0f} events/s, "
            f"non-2xx {sendgrid['non2xx']}")
    stored = depth(ctx)
    share = "; ".join([(f"wrk -t2 -c8 for {size.http_seconds} s; gunicorn {settings} workers, "
                       "no scoring worker running (this row is the web tier only)"),
                       ("requests are signed ahead of time with the current time (within the providers' 300 s "
                       "tolerance), so every signature is verified for real")])
    wrap = ""
    if stripe["requests"] > size.stripe_requests:
        wrap = f"; {stripe['requests'] - size.stripe_requests:,} requests re-sent bodies already sent (duplicates)"
    rows = [
        Row("2a", f"Stripe signed webhook, 1 interaction, gunicorn {settings}", stripe.get("rps"), "req/s",
            hello.get("rps"), "Flask hello-world, same gunicorn", "≥ 0.5× hello-world",
            bool(stripe.get("rps") and hello.get("rps") and stripe["rps"] >= 0.5 * hello["rps"])
            and not stripe["non2xx"],
            [share + wrap, f"non-2xx answers: {stripe['non2xx']}; interactions now in the streams: {stored:,}"]),
        Row("2b", f"SendGrid signed batches of {size.batch_events}, gunicorn {settings}", events, "events/s",
            hello.get("rps"), "hello-world req/s", "≥ 20,000 events/s",
            events >= 20_000 and not sendgrid["non2xx"],
            [(f"wrk -t2 -c4; {sendgrid.get('rps', 0):.1f} batches/s; non-2xx answers: {sendgrid['non2xx']}; "
             f"{size.sendgrid_batches} distinct signed batches")]),
    ]
    return rows
