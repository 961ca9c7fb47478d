"""vPDQ's reference hasher on a real video file, and agreement with python-threatexchange's format."""

import json
import shutil
import subprocess
import sys

import pytest

from hashbank.fingerprints.pdq import PDQ
from hashbank.fingerprints.vpdq import VPDQ
from tests.conftest import ROOT, require


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


@pytest.mark.parametrize("rate", ["24000/1001", "30000/1001"])
def test_the_string_is_python_threatexchanges_own_at_broadcast_frame_rates(tmp_path, vpdq_native, rate):
    """At 23.976 fps the timestamps are 0.959, 1.92, 2.88 ... in python-threatexchange's
    three significant digits; a 10 fps clip (whole seconds) hid the difference from "%.3f"."""
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal

    video = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration=4:size=320x240:rate={rate}",
         "-pix_fmt", "yuv420p", str(video)],
        check=True, timeout=60,
    )
    theirs = VPDQSignal.hash_from_file(video)
    ours = VPDQ.hash_file(video)
    assert ours == theirs
    assert VPDQ.validate(theirs) == theirs
    assert any(",2.88" in frame or ",2.9" in frame for frame in json.loads(ours))


def test_timestamps_keep_python_threatexchanges_form_past_100_seconds():
    frames = [(PDQ.get_examples()[0], 100, 123.0), (PDQ.get_examples()[1], 90, 0.9592916369438171)]
    value = VPDQ.serialise(frames)
    assert json.loads(value) == [f"{PDQ.get_examples()[0]},100,1.23e+02", f"{PDQ.get_examples()[1]},90,0.959"]
    assert VPDQ.validate(value) == value


def test_a_video_too_small_to_hash_is_an_error_not_a_crash(tmp_path, vpdq_native):
    """Frames under 5 pixels on a side: with the package's default hashing threads the
    exception escapes a thread and aborts the whole Python process (an uploaded 100x4 clip
    would take a platform's pipeline down). Run in a child so that a crash fails the test."""
    video = tmp_path / "tiny.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=100x4:rate=10",
         "-pix_fmt", "yuv420p", "-c:v", "libx264", str(video)],
        check=True, timeout=60,
    )
    code = ("import sys\nfrom hashbank.fingerprints.base import FingerprintError\n"
            "from hashbank.fingerprints.vpdq import VPDQ\n"
            "try:\n    VPDQ.hash_file(sys.argv[1])\nexcept FingerprintError as error:\n    print('refused:', error)\n")
    child = subprocess.run([sys.executable, "-c", code, str(video)], capture_output=True, text=True, timeout=120,
                           cwd=ROOT)
    assert child.returncode == 0, child.stderr[-500:]
    assert child.stdout.startswith("refused: vpdq: this video could not be hashed")
