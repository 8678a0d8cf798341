"""Step-mail content: templates (templates.py), the context contract (context.py), tracked links
(links.py), rendering with the mandatory footer (render.py) and the raw MIME message (mime.py).

Nothing here sends mail: the stepmail function does, with what ``build_message`` returns."""
