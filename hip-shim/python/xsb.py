"""xsb - explicit hints for Python programs running under the xsched-bridge shim.

    import xsb
    with xsb.online():          # latency-critical section: report busy now, idle after
        model(batch)
    xsb.process_class()         # "online", "offline" or None

Without the shim (libxsb_hip.so not preloaded) every call is a no-op, so the same program runs
anywhere. The functions are looked up in the running process (ctypes.CDLL(None)), where
LD_PRELOAD put them.
"""
import contextlib
import ctypes

__all__ = ["online", "online_begin", "online_end", "process_class", "available"]


def _lookup():
    try:
        lib = ctypes.CDLL(None)
        begin, end, cls = lib.xsb_online_begin, lib.xsb_online_end, lib.xsb_class
    except (OSError, AttributeError):
        return None
    begin.restype = ctypes.c_int
    begin.argtypes = []
    end.restype = ctypes.c_int
    end.argtypes = []
    cls.restype = ctypes.c_char_p
    cls.argtypes = []
    return begin, end, cls


_fns = _lookup()


def available():
    """True when the shim is loaded in this process."""
    return _fns is not None


def online_begin():
    """Starts a latency-critical section; returns the nesting depth (0 without the shim)."""
    return _fns[0]() if _fns else 0


def online_end():
    """Ends the section begun by online_begin; returns the remaining depth."""
    return _fns[1]() if _fns else 0


def process_class():
    """The process's class under the shim: "online", "offline", or None."""
    if not _fns:
        return None
    v = _fns[2]()
    return v.decode() if v else None


@contextlib.contextmanager
def online():
    """with xsb.online(): ... marks the block as latency-critical online work."""
    online_begin()
    try:
        yield
    finally:
        online_end()
