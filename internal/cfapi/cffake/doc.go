// Package cffake is an in-process Cloud Controller V3 and UAA that keeps real state, so that tests of
// the route switch and the route service can check what a real foundation would hold afterwards. It
// serves the request and response shapes of the CC V3 API for the endpoints maintpage uses (root
// links, orgs, spaces, apps, routes with include=domain and label_selector, route destinations, route
// metadata, user-provided service instances, service route bindings), paginates like CC with
// pagination.next.href, and refuses what the real Cloud Controller refuses, with its status, code and
// title in its {"errors":[…]} format: the rules in rules.go and the handlers each name the
// cloud_controller_ng file they come from, because a fake written from the client's side agrees with
// the client. It rejects expired or revoked tokens with 401 CF-InvalidAuthToken, issues tokens from
// /uaa/oauth/token for the refresh_token (optionally rotating it), password and client_credentials
// grants, and lets a test inject faults and check that no route ever lost its last destination.
package cffake
