"""case_open: reference + PIN, forgiving of how a person types the reference, equal for every wrong pair."""

import time

import pytest

from hashbank import references
from hashbank.selectors import case_open
from hashbank.services import case_create, case_delete
from tests.feed_helpers import one_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt():
    return case_create(files=[one_file()])


def typed_variants(reference: str) -> list[str]:
    compact = reference.replace("-", "")
    spaced = " ".join(compact[i:i + 4] for i in range(0, 16, 4))
    lookalike = compact.replace("0", "O").replace("1", "l")
    return [reference, reference.lower(), compact, spaced, f"  {reference} ", lookalike, lookalike.lower()]


def test_opens_with_any_reasonable_typing_of_the_reference(receipt):
    for typed in typed_variants(receipt.reference):
        assert case_open(reference=typed, pin=receipt.pin) == receipt.case, typed
    assert case_open(reference=receipt.reference, pin=f"{receipt.pin[:3]} {receipt.pin[3:]}") == receipt.case


def test_wrong_pairs_all_answer_none(receipt):
    other = case_create(files=[one_file()])
    wrong_pin = f"{(int(receipt.pin) + 1) % 10**6:06d}"
    assert case_open(reference=receipt.reference, pin=wrong_pin) is None
    assert case_open(reference=receipt.reference, pin=other.pin if other.pin != receipt.pin else wrong_pin) is None
    assert case_open(reference=references.reference_generate(), pin=receipt.pin) is None
    assert case_open(reference="not a reference", pin=receipt.pin) is None
    assert case_open(reference=receipt.reference, pin="") is None
    assert case_open(reference=receipt.reference, pin="12345a") is None
    assert case_open(reference="U" * 16, pin="000000") is None  # U is not Crockford


def test_deleted_case_opens_nothing(receipt):
    case_delete(case=receipt.case)
    assert case_open(reference=receipt.reference, pin=receipt.pin) is None


def test_unknown_reference_costs_the_same_argon2_work(receipt, monkeypatch):
    calls = []
    real = references.pin_verify
    monkeypatch.setattr(references, "pin_verify", lambda h, p: calls.append(h) or real(h, p))
    case_open(reference=receipt.reference, pin="000000")
    case_open(reference=references.reference_generate(), pin="000000")
    case_open(reference="garbage", pin="x")
    assert len(calls) == 3
    assert all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in calls)


def test_timing_does_not_reveal_existence(receipt):
    # Coarse on purpose (a shared machine): the medians must be within a factor of two, where
    # skipping the Argon2 work for unknown references would make them differ tenfold or more.
    def median(reference):
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            case_open(reference=reference, pin="000000")
            samples.append(time.perf_counter() - start)
        return sorted(samples)[3]

    case_open(reference="warm-up", pin="000000")
    existing, missing = median(receipt.reference), median(references.reference_generate())
    assert 0.5 < existing / missing < 2.0, (existing, missing)
