"""Small helpers shared by tests."""
import time


def wait_until(condition, timeout=10.0, interval=0.01, message="condition"):
    """Poll ``condition()`` until it returns a truthy value (returned), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
