package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/fleet"
)

// fleetView answers GET /v1/fleet: the members, their leases and cameras,
// and the moves of the last hour, as this member sees them.
func (s *Server) fleetView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.App.Fleet()
	if !ok {
		writeError(w, http.StatusNotFound, "not in fleet mode (no fleet: in the configuration)")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// fleetCollector exports the fleet's state and counters at scrape time.
type fleetCollector struct{ app *relay.App }

var (
	dFleetState   = prometheus.NewDesc("camrelay_fleet_state", "1 for this member's fleet state (starting, member, etcd-unreachable, fenced, stopped).", []string{"state"}, nil)
	dFleetChanges = prometheus.NewDesc("camrelay_fleet_ownership_changes_total", "Camera claims this member took or released.", nil, nil)
	dFleetMoves   = prometheus.NewDesc("camrelay_fleet_moves_total", "Cameras this member saw move from one member to another.", nil, nil)
	dFleetErrors  = prometheus.NewDesc("camrelay_fleet_etcd_errors_total", "etcd requests of this member that failed.", nil, nil)
	dFleetUp      = prometheus.NewDesc("camrelay_fleet_etcd_up", "1 while this member's last etcd request succeeded.", nil, nil)
	dFleetOwned   = prometheus.NewDesc("camrelay_fleet_cameras_relayed", "Cameras this member holds the claim of and relays.", nil, nil)
	dFleetCameras = prometheus.NewDesc("camrelay_fleet_cameras", "Cameras in the fleet's list.", nil, nil)
	dFleetMembers = prometheus.NewDesc("camrelay_fleet_members", "Live members this member sees.", nil, nil)
)

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dFleetState, dFleetChanges, dFleetMoves, dFleetErrors, dFleetUp, dFleetOwned, dFleetCameras, dFleetMembers} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.app.FleetStats()
	if !ok {
		return
	}
	for _, s := range fleet.States {
		x := 0.0
		if st.State == s {
			x = 1
		}
		ch <- prometheus.MustNewConstMetric(dFleetState, prometheus.GaugeValue, x, string(s))
	}
	up := 0.0
	if st.EtcdUp {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(dFleetChanges, prometheus.CounterValue, float64(st.OwnershipChanges))
	ch <- prometheus.MustNewConstMetric(dFleetMoves, prometheus.CounterValue, float64(st.Moves))
	ch <- prometheus.MustNewConstMetric(dFleetErrors, prometheus.CounterValue, float64(st.EtcdErrors))
	ch <- prometheus.MustNewConstMetric(dFleetUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(dFleetOwned, prometheus.GaugeValue, float64(st.Owned))
	ch <- prometheus.MustNewConstMetric(dFleetCameras, prometheus.GaugeValue, float64(st.Cameras))
	ch <- prometheus.MustNewConstMetric(dFleetMembers, prometheus.GaugeValue, float64(st.Members))
}
