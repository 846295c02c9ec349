"""The Microsoft Graph backend: a thin gateway with plain-named methods, and port adapters.

Only commands that talk to Graph import this package (it pulls in msgraph-core, kiota
and azure-identity).
"""
