"""The services behind the pages and the API: every read and write of the store and of Temporal."""
