# CPython with -X faulthandler: a read of address 0x10 through ctypes.
import ctypes
import sys

print("about to crash", flush=True)
ctypes.string_at(16)
