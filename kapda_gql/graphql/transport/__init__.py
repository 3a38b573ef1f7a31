"""GraphQL over HTTP: request parsing, media types, persisted queries, HTTP caching, parser caches.

The view (kapda_gql/graphql/view.py) puts these together; each module here knows one concern.
"""
