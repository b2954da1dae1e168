"""Write each inline <script> once.

Sphinx 7 writes an inline script that an extension adds after the builder has started twice
(sphinx-doc/sphinx#13402, fixed in Sphinx 8.2; Jupyter Book 1.x needs Sphinx 7), which makes
every page log "Identifier 'THEBE_JS_URL' has already been declared". Passing an empty filename
instead of None routes the script through the path that Sphinx de-duplicates.
"""


def setup(app):
    add_js_file = app.add_js_file

    def add_js_file_once(filename, priority=500, loading_method=None, **kwargs):
        return add_js_file(filename or "", priority, loading_method, **kwargs)

    app.add_js_file = add_js_file_once
    return {"parallel_read_safe": True, "parallel_write_safe": True}
