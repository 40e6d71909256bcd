"""RefAVA data: the 80 classes, pickle triplets joined on keys, `mmh data convert refava`, the JSON
export, bad input (missing key, labels outside 1..80, unsafe pickles), and video decoding (frame
folders, clip sampling with and without the official repeated-frame bug, PyAV files, audio)."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mmharness.cli import main
from mmharness.loaders import refava as ra
from mmharness.loaders.audio import AudioFile
from mmharness.loaders.video import (
    EVAL_CLIPS,
    FrameFile,
    FrameFolderClip,
    VideoFileClip,
    VideoFileUniform,
    ava_clip_frames,
    ava_keyframe_index,
    ava_window_start,
    clip_offsets,
    decode_frames_at,
)
from mmharness.requests import MediaDecodeError
from mmharness.task import TaskError

SAMPLE = Path(ra.__file__).resolve().parent.parent / "data" / "samples" / "refava"


# --------------------------------------------------------------------------- label space


def test_80_classes_and_counts_match_the_fixture(fixtures_dir):
    doc = json.loads((fixtures_dir / "refava" / "ava_actions_80_with_refava_train_counts.json").read_text())
    acts = doc["actions"]
    assert [a["id"] for a in acts] == list(range(1, 81))
    assert list(ra.AVA_ACTIONS) == [a["name"] for a in acts]
    assert [ra.label_type(a["id"]) for a in acts] == [a["label_type"] for a in acts]
    counts = json.loads((fixtures_dir / "refava" / "label_num_counts.json").read_text())
    assert list(ra.REFAVA_TRAIN_COUNTS) == counts["counts"] and sum(ra.REFAVA_TRAIN_COUNTS) == 58953
    assert [i + 1 for i, c in enumerate(ra.REFAVA_TRAIN_COUNTS) if c == 0] == counts["zero_count_ava_ids"]


# --------------------------------------------------------------------------- pickles


def _write_triplet(d: Path, split="val", keyframe=None, label=None, description=None):
    keyframe = keyframe if keyframe is not None else {
        "vidA___0902___1": [[0.1, 0.2, 0.5, 0.9]], "vidA___0902___2": [np.array([0.5, 0.1, 0.9, 0.8])]}
    label = label if label is not None else {"vidA___0902___1": [12, 79], "vidA___0902___2": [11]}
    description = description if description is not None else {
        "vidA___0902___2": ["The woman on the right."], "vidA___0902___1": ["The man wearing light green clothes."]}
    paths = []
    for role, obj in (("keyframe", keyframe), ("label", label), ("description", description)):
        p = d / f"{split}_set_{role}_crr_final.pkl"
        p.write_bytes(pickle.dumps(obj))
        paths.append(p)
    return paths


def test_triplet_is_joined_on_keys_not_order(tmp_path):
    doc = ra.convert_pickles(_write_triplet(tmp_path))
    body = doc["splits"]["val"]
    assert body["n"] == 2 and body["key_order_mismatches"] == 2  # description lists keys in another order
    rec = {r["key"]: r for r in body["records"]}
    assert rec["vidA___0902___1"]["description"] == "The man wearing light green clothes."
    assert rec["vidA___0902___1"]["labels"] == [12, 79]
    assert rec["vidA___0902___2"]["box"] == pytest.approx([0.5, 0.1, 0.9, 0.8])  # numpy box accepted
    assert [f["role"] for f in doc["source"]["files"]] == ["keyframe", "label", "description"]
    k = ra.parse_key("-5KQ66BBWC4___0902___3")
    assert (k.video_id, k.timestamp, k.person_id) == ("-5KQ66BBWC4", 902, "3")


def test_key_missing_from_one_file_names_file_and_key(tmp_path):
    label = {"vidA___0902___1": [12]}  # vidA___0902___2 is missing here only
    paths = _write_triplet(tmp_path, label=label)
    with pytest.raises(TaskError, match=r"val_set_label_crr_final\.pkl: key 'vidA___0902___2' is missing"):
        ra.convert_pickles(paths)


@pytest.mark.parametrize("bad", [0, 81, -3, 2.5, "run"])
def test_labels_outside_1_80_name_file_and_key(tmp_path, bad):
    paths = _write_triplet(tmp_path, label={"vidA___0902___1": [12, bad], "vidA___0902___2": [11]})
    with pytest.raises(TaskError, match=r"val_set_label_crr_final\.pkl: key 'vidA___0902___1': label"):
        ra.convert_pickles(paths)


def test_malformed_box_key_and_description(tmp_path):
    with pytest.raises(TaskError, match=r"keyframe_crr_final\.pkl: key 'vidA___0902___1': box .* 4 numbers"):
        ra.convert_pickles(_write_triplet(tmp_path, keyframe={"vidA___0902___1": [[0.1, 0.2]],
                                                              "vidA___0902___2": [[0, 0, 1, 1]]}))
    with pytest.raises(TaskError, match=r"x2 < x1"):
        ra.convert_pickles(_write_triplet(tmp_path, keyframe={"vidA___0902___1": [[0.5, 0.2, 0.1, 0.9]],
                                                              "vidA___0902___2": [[0, 0, 1, 1]]}))
    with pytest.raises(TaskError, match=r"not of the form"):
        ra.parse_key("vidA_0902_1", "somefile")
    with pytest.raises(TaskError, match=r"description .* is empty"):
        ra.convert_pickles(_write_triplet(tmp_path, description={"vidA___0902___1": ["  "],
                                                                 "vidA___0902___2": ["x"]}))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_restricted_unpickler_refuses_code_and_names_the_option(tmp_path):
    paths = _write_triplet(tmp_path)
    paths[2].write_bytes(pickle.dumps({"vidA___0902___1": [_Evil()], "vidA___0902___2": ["x"]}))
    with pytest.raises(TaskError, match=r"refers to (posix|os|nt)\.system.*--allow-any-pickle"):
        ra.convert_pickles(paths)


def test_file_names_must_say_split_and_role(tmp_path):
    p = tmp_path / "annotations.pkl"
    p.write_bytes(pickle.dumps({}))
    with pytest.raises(TaskError, match="cannot tell split and role"):
        ra.convert_pickles([p])
    assert ra.identify_pickle("ravar++/test_label.pkl") == ("test", "label")  # RefAVA++ names
    paths = _write_triplet(tmp_path)
    with pytest.raises(TaskError, match="description file"):
        ra.convert_pickles(paths[:2])


def test_cli_convert_writes_an_export_the_task_reads(tmp_path):
    paths = _write_triplet(tmp_path)
    out = tmp_path / "refava" / "refava_annotations.json"
    args = ["data", "convert", "refava", "--output", str(out)]
    for p in paths:
        args += ["--pickles", str(p)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "val: 2 instances; 2 key-order mismatch(es)" in res.output
    exp = ra.read_export(out)
    assert [r["key"] for r in exp["val"]["records"]] == ["vidA___0902___1", "vidA___0902___2"]
    # errors are reported without a traceback
    res = CliRunner().invoke(main, ["data", "convert", "refava", "--output", str(out), "--pickles", str(paths[0])])
    assert res.exit_code == 2 and "error:" in res.output and "missing" in res.output


def test_bundled_sample_export_is_the_conversion_of_the_bundled_pickles():
    doc = ra.convert_pickles(sorted((SAMPLE / "pickles").glob("*.pkl")))
    bundled = json.loads((SAMPLE / ra.EXPORT_NAME).read_text())
    assert doc["splits"] == bundled["splits"]
    assert bundled["splits"]["test"]["key_order_mismatches"] > 0


def test_export_validation_errors(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "other"}))
    with pytest.raises(TaskError, match="not a RefAVA export"):
        ra.read_export(p)
    p.write_text(json.dumps({"format": ra.EXPORT_FORMAT, "version": 1, "splits": {"test": {"records": [
        {"key": "v___0902___1", "box": [0, 0, 1, 1], "labels": [99], "description": "x"}]}}}))
    with pytest.raises(TaskError, match=r"x\.json \(split test\): key 'v___0902___1': label 99"):
        ra.read_export(p)


# --------------------------------------------------------------------------- clip sampling and frames


def test_window_and_clip_indices():
    assert ava_window_start(902) == 15 and ava_keyframe_index(902) == 60
    assert EVAL_CLIPS == 11
    assert clip_offsets(0) == (0, 12, 25, 38, 50, 63, 76, 89)
    assert clip_offsets(10) == tuple(int(x) for x in np.linspace(10, 89, 8).astype(int))
    assert ava_clip_frames(902, 0) == tuple(15 + o for o in clip_offsets(0))
    assert ava_clip_frames(902, 3, repeated_frame_bug=True) == (15,) * 8
    with pytest.raises(ValueError):
        clip_offsets(11)


@pytest.fixture
def frame_dir(tmp_path, fixtures_dir):
    """The three real demo frames as image_%06d.jpg at window offsets 0, 44 and 89 of ts 902."""
    d = tmp_path / "frames" / "video4"
    d.mkdir(parents=True)
    src = fixtures_dir / "refava" / "frames"
    for name, n in (("video4_frame001.png", 15), ("video4_frame045.png", 59), ("video4_frame090.png", 104)):
        Image.open(src / name).convert("RGB").save(d / f"image_{n:06d}.jpg", quality=95)
    return d


def test_frame_folder_clip_reads_real_frames_and_resizes(frame_dir):
    clip = FrameFolderClip(str(frame_dir), (15, 59, 104, 59))
    arr = clip.load()
    assert arr.shape == (4, 483, 640, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr[1], arr[3]) and not np.array_equal(arr[0], arr[2])
    small = FrameFolderClip(str(frame_dir), (15, 104), size=(224, 224)).load()
    assert small.shape == (2, 224, 224, 3)
    key = FrameFile(str(frame_dir / "image_000059.jpg"), size=(340, 465)).load()
    assert key.size == (465, 340)
    # the official bug: every position reads the window's first frame
    bug = FrameFolderClip(str(frame_dir), ava_clip_frames(902, 0, repeated_frame_bug=True)[:2]).load()
    assert np.array_equal(bug[0], arr[0]) and np.array_equal(bug[1], arr[0])


def test_missing_or_corrupt_frame_names_the_file(frame_dir):
    with pytest.raises(MediaDecodeError, match=r"frame file not found: .*image_000016\.jpg"):
        FrameFolderClip(str(frame_dir), (15, 16)).load()
    (frame_dir / "image_000016.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(MediaDecodeError, match=r"cannot decode frame .*image_000016\.jpg"):
        FrameFolderClip(str(frame_dir), (16,)).load()
    with pytest.raises(MediaDecodeError, match="negative frame number"):
        FrameFolderClip(str(frame_dir), (-15, 0)).load()


def write_test_video(path: Path, n_frames: int = 90, fps: int = 30, audio_seconds: float = 0.0):
    """An MPEG-4 file whose frame k has red = 2k (so decoded frames identify their index)."""
    import av

    c = av.open(str(path), "w")
    s = c.add_stream("mpeg4", rate=fps)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    a = c.add_stream("aac", rate=16000) if audio_seconds else None
    for k in range(n_frames):
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 0] = (2 * k) % 256
        for pk in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(pk)
    for pk in s.encode():
        c.mux(pk)
    if a is not None:
        sr = 16000
        wave = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(sr * audio_seconds)) / sr)).astype(np.float32)
        for i in range(0, len(wave), 1024):
            fr = av.AudioFrame.from_ndarray(wave[None, i:i + 1024], format="flt", layout="mono")
            fr.sample_rate, fr.pts = sr, i
            for pk in a.encode(fr):
                c.mux(pk)
        for pk in a.encode():
            c.mux(pk)
    c.close()


def test_pyav_clip_decodes_the_frames_nearest_to_the_times(tmp_path):
    p = tmp_path / "v.mp4"
    write_test_video(p, audio_seconds=3.0)
    frames = decode_frames_at(str(p), [1.0, 0.0, 2.0, 10 / 30])
    reds = [int(np.asarray(f)[24, 32, 0]) for f in frames]
    assert reds == pytest.approx([60, 0, 120, 20], abs=4)  # frames 30, 0, 60, 10 (lossy codec)
    clip = VideoFileClip(str(p), (0.0, 0.5, 1.0)).load()
    assert clip.shape == (3, 48, 64, 3)
    assert VideoFileUniform(str(p), 4, size=(24, 32)).load().shape == (4, 24, 32, 3)
    wave = AudioFile(str(p)).load()
    assert wave.dtype == np.float32 and abs(wave.shape[0] - 48000) < 2048 and 0.4 < np.abs(wave).max() < 0.6
    with pytest.raises(MediaDecodeError, match=r"frame at 9\.000 s requested"):
        decode_frames_at(str(p), [9.0])


def test_undecodable_video_and_audio_name_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 200)
    with pytest.raises(MediaDecodeError, match=r"cannot open video .*broken\.mp4"):
        VideoFileClip(str(bad), (0.0,)).load()
    with pytest.raises(MediaDecodeError, match=r"cannot open audio .*broken\.mp4"):
        AudioFile(str(bad)).load()
    with pytest.raises(MediaDecodeError, match=r"video file not found: .*nope\.mp4"):
        VideoFileUniform(str(tmp_path / "nope.mp4")).load()
    silent = tmp_path / "silent.mp4"
    write_test_video(silent, n_frames=5)
    with pytest.raises(MediaDecodeError, match="has no audio stream"):
        AudioFile(str(silent)).load()


def test_open_media_checks_the_stream_and_names_the_file_on_any_failure(tmp_path):
    from mmharness.loaders.av_media import open_media

    p = tmp_path / "v.mp4"
    write_test_video(p, n_frames=5)
    with open_media(str(p), "video") as c:
        assert len(c.streams.video) == 1 and not c.streams.audio
    with pytest.raises(MediaDecodeError, match=r"^cannot decode video .*v\.mp4: KeyError: 'x'$"):
        with open_media(str(p), "video"):
            raise KeyError("x")
    with pytest.raises(MediaDecodeError, match=r"^requested frame 7$"):  # its own errors pass unchanged
        with open_media(str(p), "video"):
            raise MediaDecodeError("requested frame 7")
    with pytest.raises(MediaDecodeError, match=r"^audio file not found: .*nope\.wav$"):
        with open_media(str(tmp_path / "nope.wav"), "audio"):
            pass
    with pytest.raises(ValueError, match="media kind must be one of"):
        with open_media(str(p), "subtitles"):
            pass
    with pytest.raises(MediaDecodeError, match=r"^.*v\.mp4 has no audio stream$"):  # a video-only file
        with open_media(str(p), "audio"):
            pass
