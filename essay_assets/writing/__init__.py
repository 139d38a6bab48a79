"""Writing: from a transcript to a published essay.

Versioned prompts (prompts/, prompts.py), chunks (chunking), the plan of calls (planning), the
draft from those calls (drafting), the essay file (rendering, publishing) and what makes an
essay acceptable (quality).
"""
