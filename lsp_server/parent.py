"""The editor process that started the server: when it is gone, the server goes too."""

from __future__ import annotations

import logging
import os
import threading
import time

logger = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 3.0


def watch_parent(pid: int) -> None:
    """Exit when the editor that started us is gone (a model must not outlive its editor)."""

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                logger.warning("parent process %d is gone; exiting", pid)
                os._exit(0)
            except PermissionError:
                pass  # exists, owned by someone else

    threading.Thread(target=poll, name="infill-parent-watch", daemon=True).start()
