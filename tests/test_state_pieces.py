"""A fold state longer than a listpack value is stored in pieces (app/storage/timelines.py): each piece fits Redis's
compact hash encoding, and the pieces join back to the state exactly, whatever its characters (pure: no Redis)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.storage.timelines import PIECE_BYTES, join_states, state_pieces


@given(st.text(max_size=600))
def test_pieces_fit_a_listpack_value_and_join_back_exactly(value):
    pieces = state_pieces(value)
    assert all(len(piece.encode()) <= PIECE_BYTES for piece in pieces)
    assert "".join(pieces) == value
    stored = {"_rev": "3", "p@1": pieces[0], **{f"p@1#{n}": piece for n, piece in enumerate(pieces[1:], start=1)},
              "q@2": "short"}
    assert join_states(stored) == {"_rev": "3", "p@1": value, "q@2": "short"}


def test_a_short_state_is_one_piece_and_a_long_one_several():
    assert state_pieces("x" * PIECE_BYTES) == ["x" * PIECE_BYTES]
    assert state_pieces("x" * (PIECE_BYTES + 1)) == ["x" * PIECE_BYTES, "x"]
    assert state_pieces("é" * PIECE_BYTES) == ["é" * (PIECE_BYTES // 2)] * 2  # two bytes each


def test_a_hash_an_earlier_release_wrote_reads_as_it_is():
    stored = {"_rev": "1", "p@1": '{"s":' + "1" * 200 + "}"}
    assert join_states(stored) == stored
