"""Static file storage: hashed, compressed names in production, served by whitenoise."""

from whitenoise.storage import CompressedManifestStaticFilesStorage

#: `new URL('./worker.js', import.meta.url)`: how a module names a Web Worker's script (or any
#: file next to it) relative to itself. Django rewrites `import ... from` lines but not this,
#: so a hashed index.js started the worker under its plain name, and the plain worker.js then
#: imported every engine module under its plain name too: each module was downloaded twice
#: per visit, and the plain copies (cached for 60 seconds, not for ever) could come from
#: another release than the page's right after a deploy. Only relative paths of .js files are
#: rewritten, so a full URL or a computed one is left as it is.
WORKER_URL_PATTERN = (
    r"""(?P<matched>new\s+URL\(\s*['"](?P<url>\.{1,2}/[^'"]+?\.m?js)['"]\s*,\s*import\.meta\.url\s*\))""",
    """new URL("%(url)s", import.meta.url)""",
)


class StaticStorage(CompressedManifestStaticFilesStorage):
    # The browser hashing code is a set of ES modules importing each other. Rewriting their
    # `import ... from "./x.js"` lines to hashed names keeps one release's modules together
    # in caches instead of mixing an old index.js with a new pdq.js.
    support_js_module_import_aggregation = True
    # ... and the workers' script URLs, so a worker loads the very same hashed modules as the
    # page that started it (from the browser's cache: one download per module).
    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("*.js", (WORKER_URL_PATTERN,)))
