"""The gateway's HTTP endpoints, one mixin per area (composed in ``gateway.service``)."""
