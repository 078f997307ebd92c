"""Execution names: valid for flyteadmin, deterministic, and sensitive to everything that identifies the upload."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lambda_trigger.naming import MAX_LENGTH, NAME_PATTERN, NamingError, execution_name

text = st.text(min_size=1, max_size=60)
maybe = st.one_of(st.none(), text)
hex_sequencer = st.text("0123456789ABCDEF", min_size=1, max_size=20).filter(lambda s: s.strip("0"))


@given(bucket=text, key=text, version=maybe, etag=maybe, sequencer=st.one_of(st.none(), hex_sequencer))
def test_names_are_valid_and_deterministic(bucket, key, version, etag, sequencer) -> None:
    assume(any(v and v.strip() for v in (version, etag, sequencer)))
    name = execution_name(bucket, key, version, etag, sequencer)
    assert NAME_PATTERN.match(name) and len(name) <= MAX_LENGTH
    assert name == execution_name(bucket, key, version, etag, sequencer)


@given(bucket=text, other=text, key=text, etag=text, sequencer=hex_sequencer)
def test_bucket_changes_the_name(bucket, other, key, etag, sequencer) -> None:
    assume(bucket != other)
    assert execution_name(bucket, key, None, etag, sequencer) != execution_name(other, key, None, etag, sequencer)


@given(key=text, other=text, etag=text, sequencer=hex_sequencer)
def test_key_changes_the_name(key, other, etag, sequencer) -> None:
    assume(key != other)
    assert execution_name("b", key, None, etag, sequencer) != execution_name("b", other, None, etag, sequencer)


@given(etag=text, other=text, sequencer=hex_sequencer)
def test_etag_changes_the_name_without_a_version(etag, other, sequencer) -> None:
    assume(etag.strip().strip('"').lower() != other.strip().strip('"').lower())
    assert execution_name("b", "k", None, etag, sequencer) != execution_name("b", "k", None, other, sequencer)


@given(version=text, other=text, etag=text, other_etag=text, sequencer=hex_sequencer)
def test_version_changes_the_name_and_overrides_the_etag(version, other, etag, other_etag, sequencer) -> None:
    assume(version.strip() and other.strip() and version.strip() != other.strip())
    assert execution_name("b", "k", version, etag, sequencer) != execution_name("b", "k", other, etag, sequencer)
    assert execution_name("b", "k", version, etag, sequencer) == execution_name(
        "b", "k", version, other_etag, sequencer
    )


@given(etag=text, sequencer=hex_sequencer, other=hex_sequencer)
def test_sequencer_changes_the_name(etag, sequencer, other) -> None:
    """A re-upload of identical bytes (same ETag) gets a new sequencer, hence a new execution."""
    assume(sequencer.lstrip("0") != other.lstrip("0"))
    assert execution_name("b", "k", None, etag, sequencer) != execution_name("b", "k", None, etag, other)


def test_spellings_of_the_same_identity_give_the_same_name() -> None:
    """S3 notifications and EventBridge write the same sequencer and ETag differently."""
    assert execution_name("b", "k", None, '"ABCdef"', "00617F08299329D189") == execution_name(
        "b", "k", None, "abcdef", "617f08299329d189"
    )


@pytest.mark.parametrize(
    ("key", "version_id", "etag", "sequencer", "golden"),
    [
        ("uploads/monet/beach.jpg", None, '"8f14e45fceea167a5a36dedd4bea2543"', "0065A1B2C3D4E5F601", "nst-mxfhsoejpwljcuva"),
        ("uploads/monet/beach.jpg", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "8f14e45f", "0065A1B2C3D4E5F601",
         "nst-agpmyf5vjkvctexs"),
        ("uploads/a b+c dé.jpg", None, None, "0065A1B2C3D4E5F601", "nst-ptr6v3uhrqgrhqb4"),
    ],
)  # fmt: skip
def test_golden_names(key, version_id, etag, sequencer, golden) -> None:
    """Pinned: a redelivery that arrives after a deploy must get the name its first delivery got, or flyteadmin
    cannot refuse it as a duplicate and the upload runs twice. A change here is a change to idempotency."""
    assert execution_name("nst-demo-uploads", key, version_id, etag, sequencer) == golden


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_no_identity_at_all_is_an_error(blank) -> None:
    with pytest.raises(NamingError, match="no versionId, eTag or sequencer"):
        execution_name("b", "k", blank, blank, blank)
