package page

import "slices"

// Strings are the page's built-in texts in one language. Templates reach them as .T.
type Strings struct {
	Title        string // default title
	Message      string // default message
	ExpectedBack string // labels the announced end: "Expected back"
	Overdue      string // replaces the announced end once it has passed
	Unplanned    string // title when the application is down outside a planned window
	UnplannedMsg string // message then
	Contact      string // default contact link text
	AutoReturn   string // tells the reader the page comes back by itself
	// NextMaintenance labels the next recurring window: "Next maintenance".
	NextMaintenance string

	// Error pages (the error-page backend's 4xx answers).
	NotFound, NotFoundMsg   string // 404 and 410
	Forbidden, ForbiddenMsg string // 401 and 403
	Error, ErrorMsg         string // any other 4xx
}

// ErrorTexts are the title and message of the error page for a 4xx status.
func (s Strings) ErrorTexts(status int) (title, message string) {
	switch status {
	case 404, 410:
		return s.NotFound, s.NotFoundMsg
	case 401, 403:
		return s.Forbidden, s.ForbiddenMsg
	}
	return s.Error, s.ErrorMsg
}

// builtin holds the shipped languages, by primary subtag; "en" must be complete, and fills any
// field another language leaves empty.
var builtin = map[string]Strings{
	"en": {
		Title:           "Down for maintenance",
		Message:         "We are doing some planned maintenance and will be back soon.",
		ExpectedBack:    "Expected back",
		Overdue:         "This is taking longer than expected. Thank you for your patience.",
		Unplanned:       "Temporarily unavailable",
		UnplannedMsg:    "The service is not answering right now. We are on it.",
		Contact:         "Contact us",
		AutoReturn:      "This page will reload by itself when we are back.",
		NextMaintenance: "Next maintenance",
		NotFound:        "Page not found",
		NotFoundMsg:     "There is nothing at this address. Check the link, or start again from the home page.",
		Forbidden:       "Access denied",
		ForbiddenMsg:    "You do not have permission to see this page.",
		Error:           "This request could not be answered",
		ErrorMsg:        "Something about the request was not right. Check the address, or try again later.",
	},
	"de": {
		Title:           "Wartungsarbeiten",
		Message:         "Wir führen geplante Wartungsarbeiten durch und sind bald wieder für Sie da.",
		ExpectedBack:    "Voraussichtlich zurück",
		Overdue:         "Es dauert länger als erwartet. Vielen Dank für Ihre Geduld.",
		Unplanned:       "Vorübergehend nicht erreichbar",
		UnplannedMsg:    "Der Dienst antwortet gerade nicht. Wir kümmern uns darum.",
		Contact:         "Kontakt",
		AutoReturn:      "Diese Seite lädt sich von selbst neu, sobald wir wieder da sind.",
		NextMaintenance: "Nächste Wartung",
		NotFound:        "Seite nicht gefunden",
		NotFoundMsg:     "Unter dieser Adresse gibt es nichts. Prüfen Sie den Link oder beginnen Sie auf der Startseite neu.",
		Forbidden:       "Kein Zugriff",
		ForbiddenMsg:    "Sie haben keine Berechtigung, diese Seite zu sehen.",
		Error:           "Anfrage nicht möglich",
		ErrorMsg:        "Diese Anfrage konnte nicht beantwortet werden. Prüfen Sie die Adresse oder versuchen Sie es später erneut.",
	},
	"fr": {
		Title:           "Maintenance en cours",
		Message:         "Nous effectuons une maintenance planifiée et serons de retour très bientôt.",
		ExpectedBack:    "Retour prévu",
		Overdue:         "Cela prend plus de temps que prévu. Merci de votre patience.",
		Unplanned:       "Temporairement indisponible",
		UnplannedMsg:    "Le service ne répond pas pour le moment. Nous nous en occupons.",
		Contact:         "Nous contacter",
		AutoReturn:      "Cette page se rechargera d’elle-même dès notre retour.",
		NextMaintenance: "Prochaine maintenance",
		NotFound:        "Page introuvable",
		NotFoundMsg:     "Il n’y a rien à cette adresse. Vérifiez le lien ou repartez de la page d’accueil.",
		Forbidden:       "Accès refusé",
		ForbiddenMsg:    "Vous n’avez pas l’autorisation de voir cette page.",
		Error:           "Requête impossible",
		ErrorMsg:        "Cette requête n’a pas pu aboutir. Vérifiez l’adresse ou réessayez plus tard.",
	},
	"es": {
		Title:           "En mantenimiento",
		Message:         "Estamos realizando un mantenimiento programado y volveremos muy pronto.",
		ExpectedBack:    "Regreso previsto",
		Overdue:         "Está tardando más de lo previsto. Gracias por su paciencia.",
		Unplanned:       "No disponible temporalmente",
		UnplannedMsg:    "El servicio no responde en este momento. Estamos trabajando en ello.",
		Contact:         "Contáctenos",
		AutoReturn:      "Esta página se recargará sola cuando volvamos.",
		NextMaintenance: "Próximo mantenimiento",
		NotFound:        "Página no encontrada",
		NotFoundMsg:     "No hay nada en esta dirección. Compruebe el enlace o vuelva a la página de inicio.",
		Forbidden:       "Acceso denegado",
		ForbiddenMsg:    "No tiene permiso para ver esta página.",
		Error:           "No se pudo atender la solicitud",
		ErrorMsg:        "Algo en la solicitud no era correcto. Compruebe la dirección o inténtelo más tarde.",
	},
	"ja": {
		Title:           "メンテナンス中",
		Message:         "現在、計画メンテナンスを実施しています。まもなく再開します。",
		ExpectedBack:    "再開予定",
		Overdue:         "予定より時間がかかっています。今しばらくお待ちください。",
		Unplanned:       "一時的にご利用いただけません",
		UnplannedMsg:    "現在サービスが応答していません。対応中です。",
		Contact:         "お問い合わせ",
		AutoReturn:      "再開すると、このページは自動的に再読み込みされます。",
		NextMaintenance: "次回のメンテナンス",
		NotFound:        "ページが見つかりません",
		NotFoundMsg:     "このアドレスには何もありません。リンクを確認するか、トップページからやり直してください。",
		Forbidden:       "アクセスできません",
		ForbiddenMsg:    "このページを表示する権限がありません。",
		Error:           "リクエストを処理できませんでした",
		ErrorMsg:        "リクエストに問題がありました。アドレスを確認するか、しばらくしてからもう一度お試しください。",
	},
}

// builtinOrder is the order built-in languages are offered in after the configured ones.
var builtinOrder = []string{"en", "de", "fr", "es", "ja"}

// builtinStrings returns the built-in texts for a language tag, by its primary subtag, with
// English for a language not shipped and for any text a shipped one lacks.
func builtinStrings(tag string) Strings {
	en := builtin["en"]
	s, ok := builtin[primary(tag)]
	if !ok {
		return en
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&s.Title, en.Title}, {&s.Message, en.Message}, {&s.ExpectedBack, en.ExpectedBack},
		{&s.Overdue, en.Overdue}, {&s.Unplanned, en.Unplanned}, {&s.UnplannedMsg, en.UnplannedMsg},
		{&s.Contact, en.Contact}, {&s.AutoReturn, en.AutoReturn},
		{&s.NotFound, en.NotFound}, {&s.NotFoundMsg, en.NotFoundMsg}, {&s.Forbidden, en.Forbidden},
		{&s.ForbiddenMsg, en.ForbiddenMsg}, {&s.Error, en.Error}, {&s.ErrorMsg, en.ErrorMsg},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return s
}

// BuiltinLanguages lists the languages the built-in texts come in, the default first.
func BuiltinLanguages() []string { return slices.Clone(builtinOrder) }
