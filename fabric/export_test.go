package fabric

// SetHTTPAddr changes the HTTP address announced from the next heartbeat
// on, for a listener that started after the node. Nothing outside the
// tests needs it: a node announces Config.HTTPAddr.
func (n *Node) SetHTTPAddr(addr string) { n.httpAddr.Store(&addr) }
