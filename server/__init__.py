"""The REST API: Deltacloud's API served by nubes, in front of the same drivers as stacks.

Guarantees: every request is authenticated (HTTP Basic, as Deltacloud clients send, or a bearer
token); the server binds to 127.0.0.1 unless told otherwise; responses use Deltacloud's element
names, attributes and status codes, in XML or JSON.
"""
