"""Every worked example of docs/scoring-models.md, run from the page itself: the rules are read from its JSON
blocks and sentences, the timeline from its tables, and each table's numbers, reasons, notes, bands and cells
are compared with what the code computes — so the page cannot drift from the code.

(The company scores section is written and checked by its own owner.)"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from app.scoring.evaluation import Period, evaluate
from app.scoring.fold import FoldState, advance, fold
from app.scoring.grades import cell
from app.scoring.interactions import ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, MANUAL_TYPE
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord

from .helpers import AUTH, contact_by_email, publish, put_profile, send, settle

DOC = (Path(__file__).resolve().parent.parent / "docs" / "scoring-models.md").read_text()
T0 = 1_700_000_000_000
DAY = 86_400_000
NUMBER = r"[+−-]?\d+"


def section(title: str) -> str:
    """The text of one ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/scoring-models.md has no section {title!r}"
    return match.group(1)


def flat(text: str) -> str:
    """Prose with its line breaks as spaces (for reading sentences)."""
    return " ".join(text.split())


def worked(text: str) -> str:
    """The section's worked example."""
    assert "### Worked example" in text
    return text.split("### Worked example", 1)[1].split("### ", 1)[0]


def table(text: str) -> list[dict[str, str]]:
    """The first markdown table of ``text``: one dict per row, by header."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def json_block(text: str) -> dict:
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def num(text: str) -> int:
    return int(text.replace("−", "-").replace("+", ""))


def ledger_cells(cell_text: str) -> list[tuple]:
    """``\\`reason\\`: +10 → +10, note`` (several joined by ``; ``) as (reason, points, change, note)."""
    out = []
    for m in re.finditer(rf"`(\w+)`(?:: ({NUMBER}) → ({NUMBER})(?:,? ([^`;|]+?))?)?(?=;|$| `)", cell_text):
        reason, points, change, note = m.groups()
        out.append((reason, num(points) if points else None, num(change) if change else None,
                    note.strip() if note else None))
    return out


def rec(id_, type_, at, **props):
    return TimelineRecord(id_, "api", type_, at, props)


# --- decay ----------------------------------------------------------------------------------------------------
def test_decay():
    text = worked(section("Decay"))
    rules = [{"id": rid, "on": on, "points": num(points), "decay": {"percent": int(pct), "every": f"{days}d"}}
             for rid, points, on, pct, days in re.findall(
                 rf"`(\w+)` \(({NUMBER}) on `([\w.]+)`, decay (\d+) % every (\d+) days\)", flat(text))]
    assert len(rules) == 2
    profile = profile_from_dict({"id": "p", "name": "P", "rules": rules})
    rows = table(text)
    records = []
    for i, row in enumerate(rows):
        day = int(row["when"].split()[1])
        at = T0 + day * DAY + i
        if (m := re.match(r"manual set to (\d+)", row["what"])):
            records.append(TimelineRecord(f"m{i}", "manual", MANUAL_TYPE, at, {"profile": "p", "set": int(m[1]),
                                                                                 "reason": "r"}))
        elif "step" not in row["what"]:
            on = next(r["on"] for r in rules if row["what"].split()[0] in r["on"].replace(".", " ")
                      or row["what"].split()[0][:5] in r["on"])
            records.append(rec(f"r{i}", on, at))
    last = max(int(r["when"].split()[1]) for r in rows)
    _, ledger = fold(profile, records, now=T0 + last * DAY + len(rows))
    assert len(ledger) == len(rows)
    for row, entry in zip(rows, ledger):
        [(reason, points, change, _note)] = ledger_cells(row["ledger (`reason`: points → change)"])
        assert (entry.reason, entry.score) == (reason, num(row["score"])), row
        assert (entry.at - T0) // DAY == int(row["when"].split()[1]), row
        if points is not None:
            assert (entry.points, entry.change) == (points, change), row


# --- groups and caps ------------------------------------------------------------------------------------------
def test_groups_and_caps():
    text = section("Groups and caps")
    profile = profile_from_dict({"id": "p", **json_block(text)})
    state = FoldState()
    for i, row in enumerate(table(worked(text))):
        rule = next(r for r in profile.rules if row["what"] in r.on)
        [entry] = advance(state, profile, [rec(f"r{i}", rule.on, T0 + i)], now=T0 + i)
        [(reason, points, change, note)] = ledger_cells(row["ledger (`reason`: points → change, note)"])
        assert (entry.reason, entry.points, entry.change, entry.note) == (reason, points, change, note), row
        assert (state.groups.get("email", 0), state.score) == (int(row["email group"]), int(row["score"])), row


# --- reset ----------------------------------------------------------------------------------------------------
def test_reset():
    text = worked(section("Reset"))
    m = re.search(r"Rules `open` \(\+(\d+), group `email` capped at (\d+), expires after (\d+) day\) and `paid` "
                  r"\(\+(\d+), decay (\d+) % every (\d+) days\)", flat(text))
    open_points, cap, expires, paid, pct, every = map(int, m.groups())
    profile = profile_from_dict({"id": "p", "name": "P", "groups": [{"id": "email", "max_points": cap}], "rules": [
        {"id": "open", "on": "email.opened", "points": open_points, "group": "email", "expires_after": f"{expires}d"},
        {"id": "paid", "on": "payment.succeeded", "points": paid, "decay": {"percent": pct, "every": f"{every}d"}}]})
    records = [rec("o1", "email.opened", T0), rec("o2", "email.opened", T0 + 1), rec("o3", "email.opened", T0 + 2),
               rec("p", "payment.succeeded", T0 + 3)]
    state, ledger = fold(profile, records, now=T0 + 3)
    given = int(re.search(r"give (\d+)", text)[1])
    capped = int(re.search(r"the third open capped at (\d+)", text)[1])
    assert state.score == given and ledger[2].change == capped
    reset = TimelineRecord("r", "manual", MANUAL_TYPE, T0 + 4, {"profile": "p", "reset": True, "reason": "r"})
    state, ledger = fold(profile, [*records, reset, rec("o4", "email.opened", T0 + 5)], now=T0 + 5)
    assert ledger[4].score == int(re.search(r"a reset gives (\d+)", text)[1])
    assert ledger[5].change == int(re.search(r"gives the full (\d+)", text)[1])
    _, later = fold(profile, [*records, reset, rec("o4", "email.opened", T0 + 5)], now=T0 + 400 * DAY)
    # the open after the reset expires a day later; nothing earned before expires or decays
    assert [(e.interaction_id, e.reason) for e in later[6:]] == [("o4", "expired")]


# --- scores that prove themselves ----------------------------------------------------------------------------
def test_evaluation():
    text = flat(worked(section("Scores that prove themselves")))
    rules = [{"id": rid, "on": on, "points": num(points)}
             for rid, points, on in re.findall(rf"`(\w+)` \(({NUMBER}) on `([\w.]+)`\)", text)]
    bands = [{"name": name, "min": int(low)} for name, low in re.findall(r"(\w+) \((\d+)\)", text.split("bands", 1)[1]
                                                                          .split(".", 1)[0])]
    profile = profile_from_dict({"id": "p", "name": "P", "rules": rules, "bands": bands})
    n = {k: int(v) for k, v in zip(("form", "open", "before", "new", "days", "form_paid", "open_paid"), re.search(
        r"In\s+January (\d+) contacts submitted a form and (\d+) others opened an email; (\d+) more submitted a form "
        r"and paid in January; (\d+) contact first appeared in February\. Evaluated from February 1st for (\d+) "
        r"days, with (\d+) form contacts and (\d+) email contacts paying in February", text).groups())}
    jan, feb = T0, T0 + 31 * DAY
    timelines = []
    for i in range(n["form"]):
        timelines.append([rec(f"f{i}", "form.submitted", jan)] +
                         ([rec(f"fp{i}", "payment.succeeded", feb + DAY)] if i < n["form_paid"] else []))
    for i in range(n["open"]):
        timelines.append([rec(f"o{i}", "email.opened", jan)] +
                         ([rec(f"op{i}", "payment.succeeded", feb + DAY)] if i < n["open_paid"] else []))
    timelines += [[rec(f"b{i}", "form.submitted", jan), rec(f"bp{i}", "payment.succeeded", jan + 1)]
                  for i in range(n["before"])]
    timelines += [[rec(f"n{i}", "form.submitted", feb + 2)] for i in range(n["new"])]
    report = evaluate({"live": profile}, timelines, Period(feb, feb + n["days"] * DAY))["live"].to_json()
    rows = {row[""]: row for row in table(worked(section("Scores that prove themselves")))}
    population = rows["population"]
    assert population["contacts"].startswith(f"{report['contacts']} ({report['excluded']['converted_before']} "
                                             f"converted before, {report['excluded']['no_history']} no history)")
    assert (num(population["conversions"]), float(population["rate"])) == (report["conversions"], report["base_rate"])
    for band in report["bands"]:
        row = rows[f"band {band['band']} ({band['min']})"]
        assert (num(row["contacts"]), num(row["conversions"])) == (band["contacts"], band["conversions"])
        assert float(row["rate"]) == band["rate"] and float(row["lift"]) == round(band["lift"], 2)
    lors = dict(re.findall(rf"`(\w+)` (?:ln\(.*?\)\) = )?({NUMBER}\.\d+)", text.split("Log odds ratios:", 1)[1]))
    suggested = dict(re.findall(rf"`(\w+)` ({NUMBER})(?=[,;]| both)", text.split("scaled to", 1)[1]))
    for rule in report["rules"]:
        row = rows[f"rule `{rule['rule_id']}`: matched / not"]
        assert row["contacts"] == f"{rule['matched']['contacts']} / {rule['unmatched']['contacts']}"
        assert row["conversions"] == f"{rule['matched']['conversions']} / {rule['unmatched']['conversions']}"
        assert [float(x) for x in row["rate"].split(" / ")] == [rule["matched"]["rate"], rule["unmatched"]["rate"]]
        assert float(row["lift"].strip("*")) == round(rule["lift"], 2)
        assert float(lors[rule["rule_id"]].replace("−", "-")) == round(rule["suggestion"]["log_odds_ratio"], 2)
        assert num(suggested[rule["rule_id"]]) == rule["suggestion"]["points"]
        assert rule["suggestion"]["significant"]
    form_lor = math.log((30 + .5) * (36 + .5) / ((10 + .5) * (4 + .5)))
    assert re.search(r"ln\(30\.5 × 36\.5 / \(10\.5 × 4\.5\)\) = 3\.16", text) and round(form_lor, 2) == 3.16


# --- fit profiles ---------------------------------------------------------------------------------------------
def fit_example():
    """The fit profile of the docs and its worked example's rows, each with the ledger entries its change made."""
    text = section("Fit profiles")
    profile = profile_from_dict({"id": "fit", **json_block(text)})
    state = FoldState()
    out = []
    written: list = []  # the ledger as stored so far (a refold replaces it)
    for i, row in enumerate(table(worked(text))):
        day = float(m[1]) if (m := re.search(r"of day ([\d.]+)", row["what"])) else int(row["when"].split()[1])
        at = T0 + int(day * DAY) + i
        changes = json.loads(m[1]) if (m := re.search(r"`(\{.*\})`", row["what"])) else None
        records = []
        if row["what"].startswith("PATCH"):
            records.append(TimelineRecord(f"a{i}", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at, changes))
        else:
            records.append(rec(f"i{i}", "email.opened", at))
            if changes:
                records.append(TimelineRecord(f"api:i{i}", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at, changes))
        late = state.last is not None and any((r.at, 1, r.key) <= state.last for r in records)
        if late:  # a late arrival: the scorer folds the whole timeline again; new entries are those not there before
            every = [*(r for _row, recs, _e, _s in out for r in recs), *records]
            state, ledger = fold(profile, every, now=max(r.at for r in every))
            seen = {(e.at, e.interaction_id, e.rule_id, e.change) for e in written}
            entries = [e for e in ledger if (e.at, e.interaction_id, e.rule_id, e.change) not in seen]
            written = list(ledger)
        else:
            entries = advance(state, profile, records, now=at)
            written += entries
        out.append((row, records, entries, state.score))
    return profile, out


def test_fit_profiles():
    profile, rows = fit_example()
    for row, _records, entries, score in rows:
        expected = [] if row["ledger (`reason`: points → change, note)"].startswith(("—", "none")) else [
            (int(p.replace("−", "-")), int(c.replace("−", "-")), note) for p, c, note in re.findall(
                rf"`fit`: ({NUMBER}) → ({NUMBER}) `([^`]*)`", row["ledger (`reason`: points → change, note)"])]
        assert [(e.points, e.change, e.note) for e in entries] == expected, row
        assert (score, profile.band_for(score)) == (int(row["score"]), row["band"]), row


# --- grades ---------------------------------------------------------------------------------------------------
def test_grades():
    text = worked(section("Grades"))
    fit_bands = [{"name": n, "min": int(v)} for n, v in re.findall(r"(\w) (\d+)", re.search(
        r"Fit bands `([^`]*)`", text)[1])]
    eng_bands = [{"name": n, "min": int(v)} for n, v in re.findall(r"(\w+) (\d+)", re.search(
        r"engagement bands `([^`]*)`", text)[1])]
    fit_doc = json_block(section("Fit profiles"))
    assert fit_bands == fit_doc["bands"]  # "the fit example above"
    fit = profile_from_dict({"id": "fit", **fit_doc})
    rows = table(text)
    click = num(re.search(rf"a click, ({NUMBER})\)", rows[0]["what"])[1])
    eng = profile_from_dict({"id": "eng", "name": "E", "bands": eng_bands,
                             "rules": [{"id": "click", "on": "email.clicked", "points": click}]})
    fit_state, eng_state = FoldState(), FoldState()
    current = None
    for i, row in enumerate(rows):
        at = T0 + i * DAY
        path = [current]
        if row["what"].startswith("PATCH"):
            changes = json.loads(re.search(r"`(\{.*\})`", row["what"])[1])
            entries = advance(fit_state, fit, [TimelineRecord(f"a{i}", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at,
                                                              changes)], now=at)
            path += [cell(fit, eng, e.score, eng_state.score) for e in entries]
        else:
            count = 2 if row["what"].startswith("two") else 1
            records = [rec(f"c{i}-{k}", "email.clicked", at + k) for k in range(count)]
            if current is None:  # the first record: both get a first score (0) before its entries
                advance(fit_state, fit, records[:1], now=at)
                path.append(cell(fit, eng, fit_state.score, 0))
            path += [cell(fit, eng, fit_state.score, e.score) for e in advance(eng_state, eng, records, now=at + 1)]
        path = [c for k, c in enumerate(path) if k == 0 or c != path[k - 1]]  # the cell's changes
        current = path[-1]
        shown = [None if c == "none" else c for c in re.sub(r"\s*\([^)]*\)", "", row["cell"]).split(" → ")]
        assert path == shown, row
        assert fit_state.score == num(row["fit"].split("→")[-1].split("(")[0].strip()), row
        assert eng_state.score == num(row["engagement"].split("→")[-1].strip()), row
        fires = any(a != "A1" and b == "A1" for a, b in zip(path, path[1:]))
        assert row["`becomes: \"A1\"` fires?"].startswith("yes" if fires else "no"), row


# --- include and exclude lists (live: lists and tags are the API's) --------------------------------------------
def test_include_and_exclude_lists(client, services):
    text = worked(section("Include and exclude lists"))
    tagged = re.search(r"Smart list `(\w+)` = `tagged (\w+)`", text)
    list_name, tag = tagged.groups()
    resp = client.post("/v1/smart-lists", headers=AUTH, json={"name": list_name, "filter": {"conditions": [
        {"field": "tag", "tag": tag}]}})
    list_id = resp.get_json()["id"]
    rid, points, on = re.search(rf"rules `(\w+)` \(({NUMBER}) on `([\w.]+)`\)", text).groups()
    put_profile(client, "p", [{"id": rid, "on": on, "points": num(points)}], exclude=[list_id])
    publish(client, services, "p")
    email = "ann@example.com"
    for i, row in enumerate(table(text)):
        what = row["what"]
        if what == "click":
            send(client, {"id": f"c{i}", "type": on, "contact": {"email": email}})
            settle(services)
        elif what.startswith("tagged") or what.startswith("tag"):
            cid = contact_by_email(client, email)["id"]
            change = "remove" if "removed" in what else "add"
            assert client.patch(f"/v1/contacts/{cid}", headers=AUTH,
                                json={"tags": {change: [tag]}}).status_code == 200
        elif what.startswith("manual"):
            cid = contact_by_email(client, email)["id"]
            resp = client.post(f"/v1/contacts/{cid}/scores/p", headers=AUTH,
                               json={"add": num(what.split()[-1].strip("`")), "reason": "docs"})
            assert resp.status_code == num(row["shown score"]), row
            continue
        contact = contact_by_email(client, email)
        history = client.get(f"/v1/contacts/{contact['id']}/scores/p/history", headers=AUTH).get_json()["items"]
        assert history[0]["score"] == num(row["fold underneath"]), row
        shown = contact["scores"].get("p", {}).get("score")
        assert (str(shown) if shown is not None else "none") == row["shown score"].split()[0], row
