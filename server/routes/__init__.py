"""The API's routers, one per collection or group of collections, each a plain APIRouter whose
handlers declare their needs as typed dependencies (nubes.server.deps). `nubes.server.app`
includes them in order: the blob routes come before the generic bucket routes."""
