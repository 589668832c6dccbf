"""Running qasid: the offline install bundle and the configuration doctor."""
