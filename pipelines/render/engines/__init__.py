"""Render engines: the protocol (base), the installed plug-ins (registry) and the built-in path tracer.

Nothing is imported here: `shotfarm engines` reads engine declarations
without loading torch, and the path tracer loads only when it is built.
"""
