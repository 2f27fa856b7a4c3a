import hashlib
import io
import stat

import pytest

from evidence.filestore import FileStore

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


def test_put_stream_hashes_stores_read_only_and_dedupes(tmp_path):
    store = FileStore(tmp_path / "store")
    data = b"x" * 3_000_000
    first = store.put_stream(io.BytesIO(data), "originals")
    assert first.sha256 == hashlib.sha256(data).hexdigest() and not first.existed
    assert first.path.read_bytes() == data
    assert not first.path.stat().st_mode & stat.S_IWUSR
    again = store.put_bytes(data, "originals")
    assert again.existed and again.path == first.path


def test_oversize_stream_leaves_nothing(tmp_path):
    store = FileStore(tmp_path / "store")
    with pytest.raises(ValueError, match="limit"):
        store.put_stream(io.BytesIO(b"y" * 5_000_000), "originals", max_bytes=1_000_000)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
