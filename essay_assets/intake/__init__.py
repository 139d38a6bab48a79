"""Intake: which videos, and what was said in them.

Video references and URLs (video_refs), followed feeds (feeds), oEmbed titles (oembed), the
video record every later stage reads (videos), transcripts from YouTube (youtube) or the
user's files (transcripts), and the order in which those sources are tried (sources).
"""
