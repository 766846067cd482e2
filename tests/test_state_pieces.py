"""A fold state longer than a listpack value is stored in pieces (app/storage/timelines.py): each piece fits Redis's
compact hash encoding, and the pieces join back to the state exactly, whatever its characters (pure: no Redis)."""
from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from app.storage.timelines import PIECE_BYTES, _pieces, join_states, state_pieces


@given(st.text(max_size=600))
def test_pieces_fit_a_listpack_value_and_join_back_exactly(value):
    pieces = state_pieces(value)
    assert all(len(piece.encode()) <= PIECE_BYTES for piece in pieces)
    assert "".join(pieces) == value
    stored = {"_rev": "3", "p@1": pieces[0], **{f"p@1#{n}": piece for n, piece in enumerate(pieces[1:], start=1)},
              "q@2": "short"}
    assert join_states(stored) == {"_rev": "3", "p@1": value, "q@2": "short"}


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=600))
@example("{" * PIECE_BYTES + "\n" + "}" * (PIECE_BYTES + 1))
def test_an_ascii_state_is_cut_every_piece_bytes_characters(value):
    # (state_pieces cuts ASCII by a regular expression: the slices it stands for, newlines included)
    assert state_pieces(value) == ([value[i:i + PIECE_BYTES] for i in range(0, len(value), PIECE_BYTES)] or [""])


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=300) | st.text(alphabet="ab\n", max_size=300)))
def test_the_writes_pieces_are_each_values_state_pieces(values):
    assert _pieces(values) == [x for name, value in values.items() for x in (name, state_pieces(value))]


def test_a_short_state_is_one_piece_and_a_long_one_several():
    assert state_pieces("x" * PIECE_BYTES) == ["x" * PIECE_BYTES]
    assert state_pieces("x" * (PIECE_BYTES + 1)) == ["x" * PIECE_BYTES, "x"]
    assert state_pieces("é" * PIECE_BYTES) == ["é" * (PIECE_BYTES // 2)] * 2  # two bytes each


def test_a_hash_an_earlier_release_wrote_reads_as_it_is():
    stored = {"_rev": "1", "p@1": '{"s":' + "1" * 200 + "}"}
    assert join_states(stored) == stored
