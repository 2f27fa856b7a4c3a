"""Open set: people the project has never seen. A clip of other LFW identities than the demo uses,
a watchlist of some of them: watchlist members who appear are found, the others raise nothing."""

from __future__ import annotations

import json

from samples.make_samples import UNSEEN_WATCHLIST, build_watchlist, render_clip, unseen_people


def test_unseen_people_watchlist_members_found_strangers_not(cli, tmp_path):
    clip = render_clip(tmp_path / "unseen.mp4", unseen_people(), 8.0, size_wh=(1280, 720), seed=3)
    wl = build_watchlist(tmp_path / "wl", UNSEEN_WATCHLIST)
    res = cli("process", clip, "--watchlist", wl, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    appearing = {p.name for p in unseen_people()}
    on_list_and_seen = set(UNSEEN_WATCHLIST) & appearing
    assert {c["subject"] for c in out["candidates"]} == on_list_and_seen
    assert "Bill_Frist" not in {c["subject"] for c in out["candidates"]}  # enrolled, never appears
