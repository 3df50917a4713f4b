import pytest

from quakesynth._atomic import atomic_path


def test_atomic_file_written_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
    with pytest.raises(FileExistsError):
        with atomic_path(target):
            pass
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("again")
    assert target.read_text() == "again"


def test_atomic_directory(tmp_path):
    target = tmp_path / "ds"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "a").write_text("x")
    assert (target / "a").read_text() == "x"
