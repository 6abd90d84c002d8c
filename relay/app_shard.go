package relay

// Location is where a camera is relayed: the shard that owns it and the
// viewer URLs of that shard's MediaMTX (from shard.viewer_urls).
type Location struct {
	Name       string   `json:"name"`
	Path       string   `json:"path"`
	Shard      int      `json:"shard"`
	Shards     int      `json:"shards"`
	Local      bool     `json:"local"`
	ViewerURLs []string `json:"viewer_urls"`
}

// Location answers for any configured camera, on every instance: the owner
// follows from the name alone.
func (a *App) Location(name string) (Location, bool) {
	cfg := a.Config()
	c, ok := cfg.Camera(name)
	if !ok {
		return Location{}, false
	}
	r := cfg.Resolved(c)
	return Location{Name: c.Name, Path: r.Path, Shard: cfg.ShardOf(c.Name), Shards: cfg.Shard.Count,
		Local: cfg.Local(c.Name), ViewerURLs: cfg.ViewerURLs(r)}, true
}
