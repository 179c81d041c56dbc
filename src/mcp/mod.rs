//! rmcp ServerHandler: tools/resources/prompts from the registry, transports, progress, cancel.
