// Package cffake is an in-process Cloud Controller V3 and UAA that keeps real state, so that tests of
// the route switch can check what a real foundation would hold afterwards. It serves the request and
// response shapes of the published CC V3 API for the endpoints maintpage uses (root links, orgs,
// spaces, apps, routes with include=domain and label_selector, route destinations, route metadata),
// paginates like CC with pagination.next.href, answers errors in CC's {"errors":[…]} format, rejects
// expired or revoked tokens with 401 CF-InvalidAuthToken, issues tokens from /uaa/oauth/token for the
// refresh_token, password and client_credentials grants, and lets a test inject faults and check that
// no route ever lost its last destination.
package cffake
