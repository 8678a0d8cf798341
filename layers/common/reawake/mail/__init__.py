"""Mail: templates (templates.py), the context contract (context.py), tracked links (links.py),
rendering with the mandatory footer (render.py), transactional mail to our own people
(transactional.py, lead_facts.py), the raw MIME message (mime.py), and the one mailer every
feature sends through (mailer.py: the ``Mailer`` port and its SES adapter)."""
