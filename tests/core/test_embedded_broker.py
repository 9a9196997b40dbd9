"""The embedded filesystem broker survives a truncated message left by a killed writer."""

from kombu import Connection

from tests.conftest import filesystem_transport_options


def test_a_truncated_message_is_skipped_and_the_next_one_delivered(tmp_path):
    options = filesystem_transport_options(tmp_path)
    with Connection("filesystem://", transport_options=options) as connection:
        queue = connection.SimpleQueue("jobs")
        # What a writer killed mid-write leaves behind; it sorts before the real message.
        (tmp_path / "out" / "0_dead.jobs.msg").write_bytes(b'{"body": "trunc')
        queue.put({"n": 1})

        message = queue.get(timeout=5)

        assert message.payload == {"n": 1}
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []
        queue.close()
