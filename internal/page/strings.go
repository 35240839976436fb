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
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return s
}

// BuiltinLanguages lists the languages the built-in texts come in, the default first.
func BuiltinLanguages() []string { return slices.Clone(builtinOrder) }
