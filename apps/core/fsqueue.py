"""The single-machine task queue: kombu's filesystem transport, with each message written
whole before a worker can see it.

kombu creates the message file, then locks and writes it; a worker listing the folder in
between moves and reads an empty file, fails to decode it, and the task is lost (a rollout
whose last ``dispatch`` is lost never finishes). Here a message is written under a name no
worker reads (``….msg.part``), then renamed into place — a rename is atomic on one
filesystem, so a worker sees a whole message or none."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        part = f"{final}.part"  # its suffix matches no queue: never read
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(part, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to the queue folder") from exc


class Transport(filesystem.Transport):
    Channel = Channel
