"""What the company writes to people: mails and the signed letter, rendered from templates
(pure: no I/O but the packaged templates). The activities send them; the admin previews them."""
