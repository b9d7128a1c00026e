"""The test suite: it mirrors the packages; shared harnesses live beside this file."""
