"""收费答客问: the answers staff keep for the questions owners ask most, and matching a reply to one."""
