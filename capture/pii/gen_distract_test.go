package pii

import (
	"fmt"
	"strconv"
)

// distractor returns a sentence with numbers that are not identifiers. Each
// kind is something real chats, notes and bank messages are full of.
func (g gen) distractor() (kind, text string) {
	kinds := []func() (string, string){
		g.dOrder, g.dTracking, g.dDate, g.dTime, g.dPrice, g.dPercent, g.dVersion, g.dInvoice,
		g.dProductCode, g.dBadCard, g.dBadIBAN, g.dBadAadhaar, g.dISBN, g.dCoords, g.dBadCPF,
		g.dBadZA, g.dMedical, g.dMisc, g.dIMEI, g.dShortCodes,
	}
	return kinds[g.r.IntN(len(kinds))]()
}

func (g gen) dOrder() (string, string) {
	n := g.nz(6 + g.r.IntN(4))
	return "order", fmt.Sprintf(g.pick(
		"Your order #%s has shipped and should arrive Friday.",
		"Order number %s is still being processed.",
		"Agizo lako nambari %s limefika kwenye duka.",
		"Votre commande n° %s a été expédiée.",
		"Seu pedido %s foi confirmado.",
		"I placed order %s last week and nothing came.",
	), n)
}

func (g gen) dTracking() (string, string) {
	return "tracking", g.pick(
		"Tracking number: 1Z"+g.digits(3)+"AA1"+g.digits(10)+".",
		"Track your parcel with RR"+g.digits(9)+"KE at the post office.",
		"Waybill "+g.nz(12)+" was scanned in Nairobi.",
		"USPS tracking "+grouped("9400"+g.digits(18), []int{4, 4, 4, 4, 4}, " ")+".",
		"Le colis 6A"+g.digits(11)+" est en cours de livraison.",
		"Consignment "+g.nz(10)+" left the Lagos hub.",
	)
}

func (g gen) dDate() (string, string) {
	y, m, d := 2019+g.r.IntN(8), 1+g.r.IntN(12), 1+g.r.IntN(28)
	months := []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	return "date", fmt.Sprintf(g.pick(
		"The appointment is on %[1]d-%02[2]d-%02[3]d.",
		"Payment due %02[3]d/%02[2]d/%[1]d.",
		"Delivered %02[2]d/%02[3]d/%[1]d.",
		"Datum: %02[3]d.%02[2]d.%[1]d.",
		"Seen on %[3]d %[4]s %[1]d by the nurse.",
		"Logged at %[1]d-%02[2]d-%02[3]dT14:%02[3]d:00Z.",
		"Batch date %[1]d%02[2]d%02[3]d.",
		"Tarehe %02[3]d/%02[2]d/%[1]d tulipokea malipo.",
		"Rendez-vous le %02[3]d/%02[2]d/%[1]d à 10h30.",
		"Vencimento em %02[3]d-%02[2]d-%[1]d.",
		"Statement period %02[3]d/%02[2]d/%[1]d - %02[3]d/%02[2]d/%[1]d.",
	), y, m, d, months[m-1])
}

func (g gen) dTime() (string, string) {
	h, mi, s := g.r.IntN(24), g.r.IntN(60), g.r.IntN(60)
	return "time", fmt.Sprintf(g.pick(
		"The call dropped at %[1]02d:%02d:%02d.",
		"Clinic opens at %[1]d:%02d and closes at 17:%02d.",
		"Saa %[1]d:%02d asubuhi, %02d sekunde.",
		"Prise de sang à %[1]dh%02d, résultat %02d min après.",
	), h, mi, s)
}

func (g gen) dPrice() (string, string) {
	a, b := 1+g.r.IntN(999), g.r.IntN(1000)
	return "price", fmt.Sprintf(g.pick(
		"The total is $%d,%03d.99 including tax.",
		"Umelipa KSh %d,%03d kwa M-Pesa.",
		"Amount: ₦%d,%03d.00 debited.",
		"Prix : %d %03d,50 €.",
		"Valor R$ %d.%03d,90 no boleto.",
		"Balance R %d %03d,00 available.",
		"Fee of ₹%d,%03d charged.",
		"Transferred USD %d%03d.00 to savings.",
	), a, b)
}

func (g gen) dPercent() (string, string) {
	return "percent", fmt.Sprintf(g.pick(
		"Interest rate is %[1]d.%d%% per annum.",
		"Battery at %[1]d%%, charging %d%%.",
		"Riba ni %[1]d.%d%% kwa mwezi.",
	), 1+g.r.IntN(99), g.r.IntN(10))
}

func (g gen) dVersion() (string, string) {
	return "version", fmt.Sprintf(g.pick(
		"Please update the app to v%[1]d.%d.%d.",
		"Running Windows build 10.0.%[2]d%03[3]d.%[1]d now.",
		"Android %[1]d.%[2]d.%[3]d crashes on login.",
		"Firmware %[1]d.%[2]d.%[3]d.%[1]d%[2]d%[3]d is out.",
		"Library version %[1]d.%d.%d-beta.2 has the fix.",
	), 1+g.r.IntN(20), g.r.IntN(30), g.r.IntN(300))
}

func (g gen) dInvoice() (string, string) {
	return "invoice", g.pick(
		"Invoice INV-"+strconv.Itoa(2020+g.r.IntN(6))+"-"+g.digits(5)+" is overdue.",
		"Ref: "+strconv.Itoa(2020+g.r.IntN(6))+"/"+g.digits(5)+" attached.",
		"Facture FA"+g.digits(8)+" réglée.",
		"Nota fiscal "+g.nz(9)+" emitida.",
		"Receipt no. "+g.nz(7)+" printed.",
	)
}

func (g gen) dProductCode() (string, string) {
	return "product", g.pick(
		"SKU 400-"+g.digits(4)+"-"+g.digits(3)+" is back in stock.",
		"Replace filter part "+g.digits(2)+"-"+g.digits(4)+"-"+g.digits(4)+".",
		"Model X"+g.digits(3)+"-"+g.digits(4)+" has a fault.",
		"EAN "+g.nz(13)+" scanned twice.",
		"Catalogue item "+g.digits(3)+"."+g.digits(3)+"."+g.digits(2)+" sold out.",
	)
}

func (g gen) dBadCard() (string, string) {
	d := "4" + g.digits(14)
	d += string('0' + (luhnDigit(d)[0]-'0'+1+byte(g.r.IntN(9)))%10)
	return "badcard", fmt.Sprintf(g.pick(
		"Reference %s does not match.",
		"Voucher code %s expired.",
		"Numéro de dossier %s.",
	), grouped(d, []int{4, 4, 4}, g.pick(" ", "-", "")))
}

func (g gen) dBadIBAN() (string, string) {
	s := g.ibanCompact()
	ck := (int(s[2]-'0')*10 + int(s[3]-'0') + 1 + g.r.IntN(90)) % 100
	bad := fmt.Sprintf("%s%02d%s", s[:2], ck, s[4:])
	if mod97(bad) {
		bad = s[:2] + "00" + s[4:]
	}
	if g.r.IntN(2) == 0 {
		bad = grouped(bad, []int{4, 4, 4, 4, 4, 4, 4}, " ")
	}
	return "badiban", "The account " + bad + " was rejected by the bank."
}

func (g gen) dBadAadhaar() (string, string) {
	d := g.aadhaarDigits()
	last := (d[11]-'0'+1+byte(g.r.IntN(9)))%10 + '0'
	bad := d[:11] + string(last)
	return "badaadhaar", fmt.Sprintf(g.pick(
		"Application number %s received.",
		"Reference %s noted.",
	), grouped(bad, []int{4, 4}, g.pick(" ", "")))
}

func (g gen) dISBN() (string, string) {
	return "isbn", g.pick(
		"ISBN 978-3-16-148410-0 is the textbook.",
		"ISBN 0-306-40615-2 on the reading list.",
		"Book 9780306406157 is on loan.",
		"ISBN 978-1-4028-9462-6, second edition.",
	)
}

func (g gen) dCoords() (string, string) {
	return "coords", fmt.Sprintf(g.pick(
		"Pickup at -1.%04d, 36.%04d near the mall.",
		"GPS: lat -33.%04d lon 18.%04d.",
		"Location 6.%04d, 3.%04d (Lagos).",
		"Coordinates -23.%04d, -46.%04d.",
	), g.r.IntN(10000), g.r.IntN(10000))
}

func (g gen) dBadCPF() (string, string) {
	d := g.digits(9)
	d += string(mod11Digit(d, cpfW1))
	d2 := mod11Digit(d, cpfW2)
	d += string((d2-'0'+1+byte(g.r.IntN(9)))%10 + '0')
	return "badcpf", "Protocolo " + d[:3] + "." + d[3:6] + "." + d[6:9] + "-" + d[9:] + " inválido."
}

func (g gen) dBadZA() (string, string) {
	d := fmt.Sprintf("%02d%02d%02d%s08", g.r.IntN(100), 1+g.r.IntN(12), 1+g.r.IntN(28), g.digits(4))
	ok := luhnDigit(d)[0]
	d += string((ok-'0'+1+byte(g.r.IntN(9)))%10 + '0')
	return "badza", "Policy number " + d + " lapsed."
}

func (g gen) dMedical() (string, string) {
	return "medical", fmt.Sprintf(g.pick(
		"BP %[1]d/%d, pulse %d, temp 37.%d°C, SpO2 9%d%%.",
		"Metformin %[1]d0 mg twice daily, review in %d weeks; HbA1c %d.%d%%.",
		"Room %[1]d%02d, bed %d; weight %d.%d kg.",
		"Shinikizo la damu %[1]d/%d, mapigo %d.",
		"Tension %[1]d/%d mmHg, glycémie %d,%d g/L.",
	), 90+g.r.IntN(60), 60+g.r.IntN(30), 50+g.r.IntN(50), g.r.IntN(10), g.r.IntN(10))
}

func (g gen) dMisc() (string, string) {
	return "misc", g.pick(
		"Ticket "+g.nz(5)+" was escalated to tier 2.",
		"Pay via Paybill 247247, account number "+g.nz(7)+".",
		"Between 2019-2024 we served 1 200 000 clients.",
		"Meter no. "+g.nz(11)+" token purchased.",
		"See pages 120-135 and table 4.2.",
		"Customer ID "+g.nz(8)+" updated.",
		"Transaction ID "+g.nz(10)+" failed.",
		"Patient ID "+g.nz(7)+" admitted to ward 3.",
	)
}

func (g gen) dIMEI() (string, string) {
	d := "35" + g.digits(12)
	return "imei", "IMEI " + d + luhnDigit(d) + " is blacklisted."
}

func (g gen) dShortCodes() (string, string) {
	return "short", g.pick(
		"Dial *144# to check your balance.",
		"In an emergency call 112 or 999.",
		"Bonyeza *544*1# kununua bando.",
		"Composez le 3646 pour l'assurance maladie.",
	)
}
