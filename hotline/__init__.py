"""The hotline service: web app, webhooks, settings and the `hotline` command."""
