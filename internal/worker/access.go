package worker

// Handler returns the worker's task handler, so that observers and a
// dead-letter store can be attached before Run.
func (w *Worker) Handler() *Handler { return w.handler }
