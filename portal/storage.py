"""Static file storage: hashed, compressed names in production, served by whitenoise."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # The browser hashing code is a set of ES modules importing each other. Rewriting their
    # `import ... from "./x.js"` lines to hashed names keeps one release's modules together
    # in caches instead of mixing an old index.js with a new pdq.js.
    support_js_module_import_aggregation = True
