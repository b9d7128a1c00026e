"""Provider drivers behind one protocol.

`protocol` defines the Driver protocol and the portable resource types' schemas; `registry` finds
a driver by name without importing the others; each driver lives in its own package.
"""
