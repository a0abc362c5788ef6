package sched

// SetBatchHook sets the hook run before each batch, for a test to inject
// a fault; nil removes it.
func SetBatchHook(f func(active int)) { testHookBatch = f }
