"""vPDQ's reference hasher on a real video file, and agreement with python-threatexchange's format."""

import shutil
import subprocess

import pytest

from hashbank.fingerprints.pdq import PDQ
from hashbank.fingerprints.vpdq import VPDQ
from tests.conftest import require


@pytest.fixture
def vpdq_native():
    try:
        import vpdq
    except ImportError:
        vpdq = None
    require(vpdq is not None and shutil.which("ffmpeg") is not None, "the vpdq package and ffmpeg")
    return vpdq


def make_video(path, source: str, seconds: int = 4) -> None:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{source}=duration={seconds}:size=320x240:rate=10",
         "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )


def test_reference_hasher_gives_one_valid_frame_a_second(tmp_path, vpdq_native):
    video = tmp_path / "clip.mp4"
    make_video(video, "testsrc")
    value = VPDQ.hash_file(video)
    frames = VPDQ.parse(value)
    assert 3 <= len(frames) <= 5
    assert all(PDQ.normalise(h) == h for h, _, _ in frames)
    assert VPDQ.validate(value) == value
    assert VPDQ.matches(value, value)


def test_reference_values_are_accepted_by_python_threatexchange(tmp_path, vpdq_native):
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal

    video = tmp_path / "clip.mp4"
    make_video(video, "testsrc")
    ours = VPDQ.hash_file(video)
    assert VPDQSignal.validate_signal_str(ours) == ours
    theirs = VPDQSignal.hash_from_file(video)
    assert VPDQ.parse(VPDQ.validate(theirs)) == VPDQ.parse(ours)
    assert VPDQSignal.compare_hash(ours, theirs).match


def test_different_videos_do_not_match(tmp_path, vpdq_native):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    make_video(a, "testsrc")
    make_video(b, "testsrc2")
    assert not VPDQ.matches(VPDQ.hash_file(a), VPDQ.hash_file(b))
