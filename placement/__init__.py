"""The Raft-replicated cluster map: nodes, failure domains, health and placement groups."""
