# Flags of every Temporal dev server we start (make run, make test, make bench): Pombo's
# search attributes, the task-matching settings priority and tenant fairness rely on, and two
# settings for its single SQLite connection.
# Sourced; sets TEMPORAL_FLAGS.
TEMPORAL_FLAGS=()
for sa in PomboTenant PomboChannel PomboPriority PomboStatus; do
  TEMPORAL_FLAGS+=(--search-attribute "$sa=Keyword")
done
# Priority keys work with the server's defaults; fairness keys (one per tenant, so one
# tenant's backlog cannot starve another's sends of the same priority) need the fairness
# matcher, which is off by default in Server 1.32.
TEMPORAL_FLAGS+=(--dynamic-config-value matching.enableFairness=true)
# One visibility writer instead of 512. The dev server runs all its persistence through a
# single SQLite connection, and a visibility write (a row with ~55 indexes and two full-text
# tables, 38% of the server's CPU in a profile of the benchmark) is bookkeeping that can
# wait: with hundreds queued for that connection, a new notification's start waited behind
# them. Visibility throughput is unchanged (the connection serialises the writes anyway);
# measured in the README's benchmark section. Only for this embedded server: a cluster's
# databases have connection pools, where the default is right.
TEMPORAL_FLAGS+=(--dynamic-config-value history.visibilityProcessorSchedulerWorkerCount=1)
# Cache search-attribute definitions. `temporal server start-dev` turns that cache off unless
# this key is given, so every workflow start and search-attribute update read the cluster
# metadata and namespace from SQLite again, through that one connection: 13.6 persistence
# calls per notification in the benchmark, 10 of them those reads, 3.7 with the cache. Our
# attributes are registered by the flags above, before the first workflow; one created at
# run time can take up to a minute (the cache's refresh) to be usable.
TEMPORAL_FLAGS+=(--dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=false)
