"""The embedded broker: kombu's filesystem transport, made safe against partial messages.

kombu writes a message file in place, so a consumer can move it away half-written, and a
process killed mid-write leaves a truncated file that crashes every later consumer with a
JSON error. Here a message is written to a hidden temporary name and renamed into the queue
(atomic on one filesystem), and an unreadable message is logged and skipped.
"""

import logging
import os
import uuid
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")  # never matches a queue
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        while True:  # Empty from the parent ends the loop when the queue has nothing left
            try:
                return super()._get(queue)
            except ValueError as exc:  # a truncated file (its writer died): skip it
                logger.warning("skipped an unreadable message on queue %s: %s", queue, exc)


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Make ``filesystem://`` URLs use this transport in every process that loads Celery."""
    TRANSPORT_ALIASES["filesystem"] = "config.embedded_broker:Transport"
